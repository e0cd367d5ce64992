export { SluiceError } from './errors'
export type { SluiceErrorCode } from './errors'
export { backends } from './backends'
export type { Backends, CpuBackend, CudaBackend } from './backends'
