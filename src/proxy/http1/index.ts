// The proxy's HTTP/1.1 codec: strict incremental head parsers, streaming body framing, and serializers over raw socket bytes.
export { HEAD_ERROR, HEAD_INCOMPLETE } from './head-scanner.js';
export { RequestHead, RequestHeadParser, type TargetForm } from './request-head.js';
export { ResponseHead, ResponseHeadParser } from './response-head.js';
export { BodyDecoder, BODY_DATA, BODY_END, BODY_ERROR, BODY_NEED_MORE, type BodyEvent, type BodyFraming } from './body-framing.js';
export { HeaderList } from './header-list.js';
export { DEFAULT_HTTP1_LIMITS, http1Limits, type Http1Limits } from './limits.js';
export { HTTP1_ERROR_CODES, REQUEST_ERRORS, RESPONSE_ERRORS, type Http1ErrorCode, type Http1ErrorStatus, type Http1ParseError } from './errors.js';
export { CHUNK_DATA_END, LAST_CHUNK, chunkHeader, errorReply, lastChunk, localReply, reasonPhrase, serializeRequestHead, serializeResponseHead, type LocalReplyOptions } from './serialize.js';
export { isFieldValue, isToken, lowerName } from './chars.js';
