// Public entry of controller/deployment: the Deployment controller and its pure planning.
export { DeploymentController, type DeploymentControllerOptions } from './controller.js';
export * from './plan.js';
