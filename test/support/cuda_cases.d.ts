// Types of cuda_cases.js for the TypeScript tests.
import type { LstmModel, LstmPredictOptions, SluiceError } from '../../lib/index'
import type { LstmWeights } from '../../lib/lstm/lstm_weights'
import type { LstmCase } from './lstm_reference'

export declare const CUDA_SHAPES: LstmCase[]
export declare function predictOptions(shape: LstmCase): Required<LstmPredictOptions>[]
export declare function firstPredictError(model: LstmModel, x: Float32Array, shape: LstmCase): SluiceError | undefined
export declare function onBothBackends(model: typeof LstmModel, weights: LstmWeights): { cpu: LstmModel; gpu: LstmModel }
