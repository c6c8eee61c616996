// The one error registry. Every error the API can answer is declared here once: its
// CloudStack `errorcode` (also the HTTP status), its `cserrorcode` (the Java exception class
// CloudStack maps it from), and whether it is the caller's fault or ours. Handlers throw
// `apiError(kind, text)`; the dispatcher renders the CloudStack shape. Anything else thrown is
// a bug: it is logged with its stack and answered as 530 without leaking internals.

export const ERRORS = {
  // kind:                 errorcode, cserrorcode, userError, CloudStack's meaning
  UNAUTHORIZED:          { code: 401, cs: 9999, user: true, what: 'unable to verify user credentials and/or request signature' },
  METHOD_NOT_ALLOWED:    { code: 405, cs: 9999, user: true, what: 'method not allowed' },
  API_LIMIT:             { code: 429, cs: 9999, user: true, what: 'too many requests' },
  MALFORMED_PARAMETER:   { code: 430, cs: 9999, user: true, what: 'malformed parameter' },
  PARAM_ERROR:           { code: 431, cs: 4350, user: true, what: 'invalid or missing parameter (InvalidParameterValueException)' },
  UNSUPPORTED_ACTION:    { code: 432, cs: 9999, user: true, what: 'unknown command or not available to this caller' },
  INTERNAL_ERROR:        { code: 530, cs: 9999, user: false, what: 'internal error (CloudRuntimeException)' },
  ACCOUNT_ERROR:         { code: 531, cs: 4365, user: true, what: 'caller may not act on this account or resource (PermissionDeniedException)' },
  ACCOUNT_RESOURCE_LIMIT:{ code: 532, cs: 4370, user: true, what: 'resource limit exceeded (ResourceLimitException)' },
  INSUFFICIENT_CAPACITY: { code: 533, cs: 4280, user: true, what: 'insufficient capacity (InsufficientCapacityException)' },
  RESOURCE_UNAVAILABLE:  { code: 534, cs: 4530, user: true, what: 'resource unavailable (ResourceUnavailableException)' },
  RESOURCE_ALLOCATION:   { code: 535, cs: 4520, user: true, what: 'resource allocation failed (ResourceAllocationException)' },
  RESOURCE_IN_USE:       { code: 536, cs: 4525, user: true, what: 'resource in use (ResourceInUseException)' },
  NETWORK_RULE_CONFLICT: { code: 537, cs: 4275, user: true, what: 'network rule conflict (NetworkRuleConflictException)' },
} as const satisfies Record<string, { code: number; cs: number; user: boolean; what: string }>;

export type ErrorKind = keyof typeof ERRORS;

export class ApiError extends Error {
  readonly kind: ErrorKind;
  readonly errorcode: number;
  readonly cserrorcode: number;
  /** uuids of the objects the error is about, as CloudStack's uuidList */
  readonly uuidList: string[];
  constructor(kind: ErrorKind, errortext: string, uuidList: string[] = []) {
    super(errortext);
    this.name = 'ApiError';
    this.kind = kind;
    this.errorcode = ERRORS[kind].code;
    this.cserrorcode = ERRORS[kind].cs;
    this.uuidList = uuidList;
  }
  get isUserError(): boolean { return ERRORS[this.kind].user; }
}

export function apiError(kind: ErrorKind, errortext: string, uuidList: string[] = []): ApiError {
  return new ApiError(kind, errortext, uuidList);
}

/** The usual 431: a parameter's value is wrong. Names the parameter, as CloudStack does. */
export function paramError(text: string): ApiError { return new ApiError('PARAM_ERROR', text); }

/**
 * An id that names nothing the caller may see: CloudStack's exact 431 (ParamProcessWorker), which
 * clients match on — Terraform's provider treats a destroy whose object is already gone as done
 * when the text contains "Invalid parameter id value=<id> due to incorrect long value format, or
 * entity does not exist".
 */
export function notFound(command: string | undefined, param: string, id: string): ApiError {
  return new ApiError('PARAM_ERROR', `${command ? `Unable to execute API command ${command.toLowerCase()} due to invalid value. ` : ''}Invalid parameter ${param} value=${id} due to incorrect long value format, or entity does not exist or due to incorrect parameter annotation for the field in api cmd class.`);
}

/** Any thrown value as an ApiError; unknown errors become 530 with a generic text. */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  return new ApiError('INTERNAL_ERROR', 'Internal error executing command, please contact your system administrator');
}
