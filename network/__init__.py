"""network: the networks dcsim compresses and runs, as numpy data.

- :mod:`.graph`: the network description (``Network``: weight layers ``LayerSpec`` and the graph
  of ``Node``s between them, with the host operations) and its forward pass (and a chain's
  backward pass); :mod:`.ops`: the numpy operations they use;
- :mod:`.models`: the built-in reference networks (LeNet-300-100, LeNet-5);
- :mod:`.train`: the trainer (SGD; masked retraining; centroid fine-tuning of shared weights),
  numpy for the built-in chains and :mod:`.torch_train` (PyTorch) for every other graph;
- :mod:`.data` and :mod:`.mnist`: the training and test data (MNIST and other IDX data sets,
  ``.npz`` evaluation and training sets);
- the importers: :mod:`.onnx_import` (an ONNX model with its graph, or a PyTorch module through
  ``torch.onnx.export``), :mod:`.npz` (a file of weight arrays) and :mod:`.torch_import` (a
  PyTorch module or state_dict; torch imported lazily).

May import arch, numpy, scipy, onnx and tqdm (torch lazily). It knows nothing about compression or machines.
"""
