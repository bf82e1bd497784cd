// Every rule that turns an incoming xDS request into ACK, NACK, stale or a subscription change, in one function.
import type { XdsProtocol, TypeWatch } from './stream-state.js';

/** The parts of a DiscoveryRequest / DeltaDiscoveryRequest the rules read. */
export interface RequestView {
  protocol: XdsProtocol;
  /** response_nonce ('' when absent). */
  nonce: string;
  /** SotW version_info: the version the client now runs ('' before it accepted any). */
  versionInfo: string;
  /** error_detail.message when the client rejected the response named by `nonce`. */
  errorMessage?: string;
  /** Whether applying the request's names changed the subscription (computed by the caller). */
  subscriptionChanged: boolean;
}

export type Decision =
  /** First request for this type on this stream: answer with the full state. */
  | { kind: 'initial' }
  /** The client accepted the response `nonce` and now runs `version`. */
  | { kind: 'ack'; version: string; respond: boolean }
  /** The client rejected the response `nonce` and keeps running `version`. */
  | { kind: 'nack'; version: string; message: string; repeated: boolean; respond: boolean }
  /** A request acknowledging nothing (no response on this stream yet): only its names matter. */
  | { kind: 'resubscribe'; respond: boolean }
  /** A request answering an older response; a newer one is in flight. */
  | { kind: 'stale'; respond: boolean };

/**
 * Classifies one request for one type, given what this stream sent for the type (`watch`,
 * undefined if nothing was ever requested). Follows Envoy's xDS protocol
 * (https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol#ack-nack-and-resource-type-instance-version)
 * and Istio's `shouldRespond`:
 *
 * 1. No watch yet → `initial`: the first request of a type on this stream, whatever nonce or
 *    version it carries (a client reconnecting after a control-plane restart echoes the old
 *    ones). Answer with the full state.
 * 2. Empty nonce with a watch → `resubscribe`: the client has no response for this type on
 *    this stream yet and changed its names (grpc-js re-requests before the first answer;
 *    Delta clients send subscription diffs): answer if the subscription changed.
 * 3. Nonce ≠ the last nonce sent → `stale`. SotW: ignore it entirely; the client will repeat
 *    its current names with the current nonce. Delta: requests are diffs the client never
 *    repeats, so a subscription change is still answered; nothing is ACKed or NACKed.
 * 4. Current nonce with error_detail → `nack`: record it (once per nonce), never resend the
 *    same thing; the client keeps `version_info` (its last good version). If the subscription
 *    changed in the same request, answer for the new names (the client keeps its error flag
 *    on every later request until the next response, so waiting would starve it).
 * 5. Current nonce, no error → `ack` of `version_info` (Delta: of the version sent with that
 *    nonce); answer only if the subscription changed.
 */
export function classifyRequest(req: RequestView, watch: TypeWatch | undefined): Decision {
  if (!watch) return { kind: 'initial' };
  if (req.nonce === '') return { kind: 'resubscribe', respond: req.subscriptionChanged };
  if (req.nonce !== watch.nonceSent) return { kind: 'stale', respond: req.protocol === 'delta' && req.subscriptionChanged };
  if (req.errorMessage !== undefined) {
    return { kind: 'nack', version: req.versionInfo, message: req.errorMessage, repeated: watch.nonceNacked === req.nonce, respond: req.subscriptionChanged };
  }
  // Delta requests carry no version: the nonce names the response, whose version we sent.
  const version = req.protocol === 'delta' ? watch.versionSent : req.versionInfo;
  return { kind: 'ack', version, respond: req.subscriptionChanged };
}
