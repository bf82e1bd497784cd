// The xDS generators for Envoy-style proxies (sidecars and gateways): LDS, RDS, CDS, EDS, and SDS for gateway credentials.
import { TypeUrl, type GeneratorSet } from '../types.js';
import { generateClusters } from './cds.js';
import { generateEndpoints } from './eds.js';
import { generateListeners } from './lds.js';
import { generateRoutes } from './rds.js';
import { generateSecrets } from './sds.js';

export { buildClusters } from './cds.js';
export { buildListeners, rdsRouteNames } from './lds.js';
export { routeConfiguration } from './rds.js';
export { clusterLoadAssignment, edsClusterNames } from './eds.js';

/** What the ADS server uses for every proxy without `GENERATOR: grpc` metadata. */
export const envoyGenerators: GeneratorSet = {
  [TypeUrl.Listener]: generateListeners,
  [TypeUrl.RouteConfiguration]: generateRoutes,
  [TypeUrl.Cluster]: generateClusters,
  [TypeUrl.ClusterLoadAssignment]: generateEndpoints,
  [TypeUrl.Secret]: generateSecrets,
};
export { clustersMayChange, configChangeRequest, secretsOnly } from './push-needs.js';
export { credentialSecret } from './sds.js';
