// Logs and exec through the node agents' stream ports (the kubelet's 10250).
export { createNodeStreams, logsRequestOf, streamEndpointOf, type NodeStreams, type NodeStreamsOptions } from './node-streams.js';
export { issueControllerClientCert } from './client-cert.js';
export { checkExecTarget, checkLogTarget, pickContainer } from './checks.js';
export { checkImageNode, tarMessages, ImageTarTooLargeError, type NodeImage, type NodeImagesProvider } from './node-images.js';
