// The one coded error class of the project and the registry of its codes.

/** gRPC status codes used when a MeshError crosses a gRPC boundary. */
export const GrpcCode = {
  OK: 0,
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

interface CodeInfo {
  /** Default message; callers may give a more specific one. */
  message: string;
  httpStatus: number;
  grpcCode: number;
}

/**
 * Every error code of every component, with its HTTP status and gRPC code side by side.
 * Components add their codes here rather than inventing ad hoc errors.
 */
export const ErrorCodes = {
  MESH_INVALID_CONFIG: { message: 'configuration is invalid', httpStatus: 400, grpcCode: GrpcCode.INVALID_ARGUMENT },
  MESH_PARSE_ERROR: { message: 'input could not be parsed', httpStatus: 400, grpcCode: GrpcCode.INVALID_ARGUMENT },
  MESH_INPUT_TOO_LARGE: { message: 'input exceeds a size limit', httpStatus: 413, grpcCode: GrpcCode.RESOURCE_EXHAUSTED },
  MESH_NOT_FOUND: { message: 'resource not found', httpStatus: 404, grpcCode: GrpcCode.NOT_FOUND },
  MESH_CONFLICT: { message: 'resource version conflict', httpStatus: 409, grpcCode: GrpcCode.FAILED_PRECONDITION },
  MESH_ALREADY_EXISTS: { message: 'resource already exists', httpStatus: 409, grpcCode: GrpcCode.ALREADY_EXISTS },
  MESH_UNKNOWN_KIND: { message: 'unknown resource kind', httpStatus: 400, grpcCode: GrpcCode.INVALID_ARGUMENT },
  MESH_IO: { message: 'I/O failure', httpStatus: 500, grpcCode: GrpcCode.UNAVAILABLE },
  MESH_USAGE: { message: 'incorrect usage', httpStatus: 400, grpcCode: GrpcCode.INVALID_ARGUMENT },
  MESH_CA_INVALID: { message: 'CA signing material is unusable', httpStatus: 500, grpcCode: GrpcCode.FAILED_PRECONDITION },
  MESH_CSR_REJECTED: { message: 'certificate signing request refused', httpStatus: 400, grpcCode: GrpcCode.INVALID_ARGUMENT },
  MESH_UNAUTHENTICATED: { message: 'caller could not be authenticated', httpStatus: 401, grpcCode: GrpcCode.UNAUTHENTICATED },
  MESH_INTERNAL: { message: 'internal error', httpStatus: 500, grpcCode: GrpcCode.INTERNAL },
} as const satisfies Record<string, CodeInfo>;

export type ErrorCode = keyof typeof ErrorCodes;

/** A failure with a stable code; `cause` keeps the underlying error. */
export class MeshError extends Error {
  readonly code: ErrorCode;
  readonly httpStatus: number;
  readonly grpcCode: number;

  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown }) {
    const info: CodeInfo = ErrorCodes[code];
    super(message ?? info.message, options);
    this.name = 'MeshError';
    this.code = code;
    this.httpStatus = info.httpStatus;
    this.grpcCode = info.grpcCode;
  }
}

export function isMeshError(e: unknown, code?: ErrorCode): e is MeshError {
  return e instanceof MeshError && (code === undefined || e.code === code);
}
