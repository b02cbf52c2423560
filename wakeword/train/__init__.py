"""Training, export and evaluation of keyword models (the [train] extra: TensorFlow, soundfile).

The runtime package (wakeword/*.py) never imports from here. Modules: data (corpus and speaker
split), augment (signal augmentation), tts (synthetic voices), examples (augmented windows),
featureset (cached MFCC arrays), models (architectures with their front ends), validation (the
trainer's yardstick), export (TFLite + sidecar), evaluate and card (figures and model card).
"""
