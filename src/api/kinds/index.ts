// Every kind Meltemi knows, in the order `meltemi get` and the docs list them.
import type { KindDef } from '../kind.js';
import { gatewayKind } from './gateway.js';

export const ALL_KINDS: readonly KindDef[] = [gatewayKind];
