"""compress: a network in, a compressed model out, with its storage counted bit by bit.

- :mod:`.config`: ``CompressionConfig``, the recipe; :mod:`.recipes`: the built-in models'
  default recipes;
- :mod:`.methods`: the compression methods (pruners, quantizers) and their registry;
- :mod:`.pipeline`: the stages (baseline, prune and retrain, quantize and fine-tune, encode)
  and the storage report;
- :mod:`.sensitivity`: the per-layer sensitivity scan and the recipe chosen within an accuracy
  budget;
- :mod:`.storage`, :mod:`.huffman`: Deep Compression's storage form and its Huffman coding;
- :mod:`.model`, :mod:`.archive`: the compressed model and its checksummed ``.dcz`` archive;
- :mod:`.torch_adapter`: the same stages on a PyTorch module in the user's training loop.

May import arch, network, numpy and tqdm (torch lazily, in the adapter only).
"""
