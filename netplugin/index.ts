// Public entry of netplugin/: subnet leases, the VXLAN backend, bridge +
// host-local IPAM (CNI 1.0 shaped), masquerade rules and the rtnetlink codec.
export const COMPONENT = 'netplugin';
