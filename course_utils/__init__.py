"""Shared helpers for the course notebooks "Convnets applications on visual recognition".

Split by role, the way torchvision is:

- ``env``: seeding, device choice, the FAST flag, Colab detection (every notebook's setup cell)
- ``datasets``: the real digits and photos that packages ship; the synthetic shapes scenes
  (boxes, masks, label maps, stick-figure people with keypoints), as (image, label map) pairs
  for segmentation, and cell scenes; ``detection_collate`` for detection batches
- ``ops``: from-scratch reference ops (1x1 conv, GAP, class activation maps, box IoU, NMS, box
  conversions, mask IoU, RoIPool, bilinear interpolation, RoIAlign, keypoint heatmaps and
  flips), each checked against torchvision / torch.nn
- ``cost``: parameter and multiply-add counts, forward-pass timing
- ``metrics``: confusion matrix, accuracy, mean accuracy and mean IoU, boundary IoU; detection
  matching, AP and mAP (boxes, masks and keypoints); PCK and keypoint similarity
- ``regions``: R-CNN's pieces that are not ops (sliding-window proposals, proposal and anchor
  labelling, balanced sampling, box coding, post-processing)
- ``proposals``: selective search, R-CNN's region proposals
- ``losses``: segmentation losses (softmax and per-class sigmoid cross-entropy), Mask R-CNN's
  mask loss, the keypoint head's loss
- ``models``: the networks the notebooks build and train (Inception module, GAP heads,
  MiniAlexNet, ResNets; FCN and U-Net; R-CNN, Fast R-CNN and torchvision's Faster, Mask and
  Keypoint R-CNN)
- ``train``: one small fit/evaluate loop with progress bars (and ``fit_detector``/``detect``
  for detectors)
- ``history``: the curves a training run records (``train.History``), which ``viz`` plots
- ``sweep``: many small training runs at once (seeds x learning rates), for the experiments
- ``transforms``: per-image random shifts and affine transforms of a whole batch, U-Net's
  elastic deformation, a horizontal flip of a detection sample that swaps left and right
- ``progress``: progress bars whose saved text shows the final state
- ``viz``: figures (image grids, boxes, masks, keypoints, label maps, RoI sampling grids,
  curves, confusion matrices)
- ``diagrams``: architecture diagrams drawn by code (Inception module, residual blocks, a
  ResNet stage)
- ``widgets``: the ipywidgets explorers (each has a static twin in ``viz``)
- ``pretrained``: torchvision's pretrained models on real photos (optional cells, downloads)
- ``checks``: what the exercise check cells call
- ``contract``: the verdict line that means "passed" and the sandbox protocol's limits, shared
  by ``checks`` and ``grading`` (no torch)
- ``grading``: releasing the student versions, and grading submissions in a sandbox
"""

__version__ = "0.1.0"
