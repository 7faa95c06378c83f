package capmoe.model;

/** Parsed HF config.json; the engine defines the fields. */
public record ModelConfig(String modelType, int vocabSize, int hiddenSize, int numHiddenLayers) {
}
