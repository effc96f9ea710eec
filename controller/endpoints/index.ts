// The endpoints controller: EndpointSlices and Endpoints of Services from the pods they select.
export * from './controller.js';
export * from './plan.js';
