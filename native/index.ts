// Public entry of native/: the typed wrapper around the node-addon-api addon
// (namespaces, rtnetlink socket, mount/umount, mknod/setxattr) and the path of
// the `pause` binary.
export const COMPONENT = 'native';
