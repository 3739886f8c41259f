/** NVML return codes (nvml.h `nvmlReturn_t`) and the typed errors the binding throws. */

export const NVML_SUCCESS = 0;

/** The codes of nvml.h by name; the values are fixed by NVIDIA's ABI. */
export const NvmlReturn = {
  SUCCESS: 0,
  ERROR_UNINITIALIZED: 1,
  ERROR_INVALID_ARGUMENT: 2,
  ERROR_NOT_SUPPORTED: 3,
  ERROR_NO_PERMISSION: 4,
  ERROR_ALREADY_INITIALIZED: 5,
  ERROR_NOT_FOUND: 6,
  ERROR_INSUFFICIENT_SIZE: 7,
  ERROR_INSUFFICIENT_POWER: 8,
  ERROR_DRIVER_NOT_LOADED: 9,
  ERROR_TIMEOUT: 10,
  ERROR_IRQ_ISSUE: 11,
  ERROR_LIBRARY_NOT_FOUND: 12,
  ERROR_FUNCTION_NOT_FOUND: 13,
  ERROR_CORRUPTED_INFOROM: 14,
  ERROR_GPU_IS_LOST: 15,
  ERROR_RESET_REQUIRED: 16,
  ERROR_OPERATING_SYSTEM: 17,
  ERROR_LIB_RM_VERSION_MISMATCH: 18,
  ERROR_IN_USE: 19,
  ERROR_MEMORY: 20,
  ERROR_NO_DATA: 21,
  ERROR_VGPU_ECC_NOT_SUPPORTED: 22,
  ERROR_INSUFFICIENT_RESOURCES: 23,
  ERROR_FREQ_NOT_SUPPORTED: 24,
  ERROR_ARGUMENT_VERSION_MISMATCH: 25,
  ERROR_DEPRECATED: 26,
  ERROR_NOT_READY: 27,
  ERROR_GPU_NOT_FOUND: 28,
  ERROR_INVALID_STATE: 29,
  ERROR_UNKNOWN: 999,
} as const;

const NAMES = new Map<number, string>(Object.entries(NvmlReturn).map(([name, code]) => [code, `NVML_${name}`]));

/** Codes where the same call may succeed a moment later; the rest need an operator (driver, reset, permission). */
const RETRYABLE = new Set<number>([
  NvmlReturn.ERROR_TIMEOUT,
  NvmlReturn.ERROR_IN_USE,
  NvmlReturn.ERROR_MEMORY,
  NvmlReturn.ERROR_NO_DATA,
  NvmlReturn.ERROR_INSUFFICIENT_RESOURCES,
  NvmlReturn.ERROR_NOT_READY,
  NvmlReturn.ERROR_UNKNOWN,
]);

export function nvmlCodeName(code: number): string {
  return NAMES.get(code) ?? `NVML_ERROR_${code}`;
}

/** A call into NVML returned something other than NVML_SUCCESS. */
export class NvmlError extends Error {
  override readonly name = 'NvmlError';
  readonly codeName: string;
  readonly retryable: boolean;

  readonly fn: string;
  readonly code: number;
  readonly description: string;
  constructor(
    /** The nvml.h function that failed, e.g. `nvmlDeviceGetMemoryInfo`. */
    fn: string,
    /** The raw `nvmlReturn_t`. */
    code: number,
    /** `nvmlErrorString(code)` as the library words it. */
    description: string,
  ) {
    super(`${fn} failed: ${description} (${nvmlCodeName(code)})`);
    this.fn = fn;
    this.code = code;
    this.description = description;
    this.codeName = nvmlCodeName(code);
    this.retryable = RETRYABLE.has(code);
  }
}

export type NvmlUnavailableReason = 'koffi-unavailable' | 'library-not-found' | 'symbol-missing' | 'init-failed';

/** NVML cannot be used on this machine at all (no driver, no library, an NVML too old); never retryable. */
export class NvmlUnavailableError extends Error {
  override readonly name = 'NvmlUnavailableError';

  readonly reason: NvmlUnavailableReason;
  constructor(
    reason: NvmlUnavailableReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.reason = reason;
  }
}
