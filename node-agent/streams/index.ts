// The agent's logs/exec server for the controller (the kubelet's port 10250).
export { startStreamServer, streamHandlers, resolveTarget, logOptionsOf, type PodLookup, type StreamServer, type StreamServerOptions } from './server.js';
export { imageAdminOf, imageHandlers, clearImageScratch, type ImageAdmin, type ImageAdminOptions } from './images.js';
