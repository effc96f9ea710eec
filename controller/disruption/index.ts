export { DisruptionController, DISRUPTED_POD_TIMEOUT_MS, type DisruptionControllerOptions } from './controller.js';
