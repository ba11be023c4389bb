"""network: the networks dcsim compresses and runs, as numpy data.

- :mod:`.graph`: the network description (``Network``, ``LayerSpec``, ``LayerKind``) and its
  forward and backward pass; :mod:`.ops`: the numpy operations they use;
- :mod:`.models`: the built-in reference networks (LeNet-300-100, LeNet-5);
- :mod:`.train`: the trainer (SGD; masked retraining; centroid fine-tuning of shared weights);
- :mod:`.data` and :mod:`.mnist`: the training and test data (MNIST and other IDX data sets);
- the importers: :mod:`.npz` (a file of weight arrays) and :mod:`.torch_import` (a PyTorch
  module or state_dict; torch imported lazily).

May import arch, numpy and tqdm (torch lazily). It knows nothing about compression or machines.
"""
