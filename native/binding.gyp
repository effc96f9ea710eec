{
  "targets": [
    {
      "target_name": "flotilla_native",
      "sources": ["src/addon.cc", "src/netns.cc", "src/mount.cc", "src/netlink.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"],
      "cflags_cc!": ["-std=gnu++17"]
    }
  ]
}
