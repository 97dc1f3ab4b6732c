"""Shared helpers for the course notebooks "Convnets applications on visual recognition".

Split by role, the way torchvision is:

- ``env``: seeding, device choice, the FAST flag, Colab detection (every notebook's setup cell)
- ``datasets``: the real digits and photos that packages ship, and the synthetic shapes scenes
- ``ops``: from-scratch reference ops (1x1 conv, GAP, class activation maps, box IoU, NMS,
  RoIPool, RoIAlign, keypoint heatmaps), each checked against torchvision / torch.nn
- ``cost``: parameter and multiply-add counts, forward-pass timing
- ``metrics``: confusion matrix, accuracy, mean accuracy and mean IoU, boundary IoU;
  detection matching, AP and mAP (boxes and masks)
- ``regions``: R-CNN's pieces that are not ops (sliding-window proposals, proposal and anchor
  labelling, anchor sampling, box coding, post-processing)
- ``proposals``: selective search, R-CNN's region proposals
- ``losses``: segmentation losses (softmax and per-class sigmoid cross-entropy)
- ``models``: the networks the notebooks build and train (Inception module, GAP heads,
  MiniAlexNet, ResNets; FCN and U-Net; detectors)
- ``train``: one small fit/evaluate loop with progress bars and a history
- ``sweep``: many small training runs at once (seeds x learning rates), for the experiments
- ``transforms``: per-image random shifts and affine transforms of a whole batch
- ``progress``: progress bars whose saved text shows the final state
- ``viz``: figures (image grids, boxes, masks, label maps, curves, confusion matrices)
- ``diagrams``: architecture diagrams drawn by code (Inception module, residual blocks)
- ``checks``: what the exercise check cells call
- ``widgets``: the ipywidgets explorers (each has a static twin in ``viz``)
- ``pretrained``: torchvision's pretrained models on real photos (optional cells, downloads)
- ``grading``: releasing the student versions, and grading submissions in a sandbox
"""

__version__ = "0.1.0"
