"""Training, export and evaluation of keyword models (the [train] extra: TensorFlow, soundfile, scipy).

The runtime package (wakeword/*.py) never imports from here. One module per stage:
data (corpus, speaker folds, noise classes), augment / rooms / channel / perturb / tts (what the
windows are made of), examples (augmented windows), featureset (per-fold banks of features),
models (architectures), fitting (stages and hard-negative mining), export (TFLite + sidecar),
evalsets (trials and negative streams), scoring (the one scorer), thresholds (DET and the rule),
crossval (fold models scored on their folds), report and card (figures and the model card),
common and runner (what both trainers share), mfcc_trainer and embedding_trainer, evaluate (the
evaluation command) and __main__ (wakeword-train, which only dispatches).
"""
