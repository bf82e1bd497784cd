// virtualOutbound (15001): receives every redirected outbound connection and hands it to the listener of its original destination.
import type { Proxy } from '../../model/proxy.js';
import type { PushContext } from '../../model/push-context.js';
import { BLACKHOLE_CLUSTER, VIRTUAL_OUTBOUND_LISTENER } from './cluster-names.js';
import { address, boolValue, type Msg } from './envoy-values.js';
import { filterChain } from './filter-chains.js';
import { catchAllCluster } from './outbound-listeners.js';
import { tcpProxy } from './tcp-proxy.js';

/**
 * `use_original_dst` hands a connection to the listener bound to its original destination
 * (`VIP_PORT`, else `0.0.0.0_PORT`); connections no listener claims stay here and follow the
 * outbound traffic policy (PassthroughCluster or BlackHoleCluster). Connections addressed to 15001
 * itself are blackholed so a misconfigured client cannot loop the proxy into itself.
 */
export function virtualOutboundListener(proxy: Proxy, push: PushContext): Msg {
  const cluster = catchAllCluster(proxy, push);
  return {
    name: VIRTUAL_OUTBOUND_LISTENER,
    address: address('0.0.0.0', push.mesh.outboundPort),
    filterChains: [
      filterChain({ name: 'virtualOutbound-blackhole', destinationPort: push.mesh.outboundPort, filters: [tcpProxy(BLACKHOLE_CLUSTER)] }),
      filterChain({ name: 'virtualOutbound-catchall-tcp', filters: [tcpProxy(cluster)] }),
    ],
    useOriginalDst: boolValue(true),
    trafficDirection: 'OUTBOUND',
  };
}
