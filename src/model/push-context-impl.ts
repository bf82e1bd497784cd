// Entry point of the PushContext implementation (the indexes live in ./push/, one file per concept).
export { buildPushContext, withEndpointsOf } from './push/build-push-context.js';
