// The in-memory form of an LSTM's parameters, shared by LstmModel.fromWeights and the file loaders
// (safetensors, ONNX). PyTorch's layout and gate order (i, f, g, o), which is also cuDNN's.

/** One layer: the four gates' rows stacked in the order i, f, g, o. */
export interface LstmLayerWeights {
  /** [4·hiddenSize][layer input size] (inputSize for layer 0, hiddenSize above). */
  weightIh: Float32Array
  /** [4·hiddenSize][hiddenSize] */
  weightHh: Float32Array
  /** [4·hiddenSize]; zeros when absent. */
  biasIh?: Float32Array
  /** [4·hiddenSize]; zeros when absent. */
  biasHh?: Float32Array
}

/** An optional linear head on the last layer's hidden state: y = weight · h + bias. */
export interface LinearHeadWeights {
  /** [outputSize][hiddenSize] */
  weight: Float32Array
  /** [outputSize]; zeros when absent. */
  bias?: Float32Array
}

export interface LstmWeights {
  inputSize: number
  hiddenSize: number
  /** Bottom layer first. */
  layers: LstmLayerWeights[]
  head?: LinearHeadWeights
}
