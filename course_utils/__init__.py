"""Shared helpers for the course notebooks "Convnets applications on visual recognition".

Split by role, the way torchvision is:

- ``env``: seeding, device choice, the FAST flag, Colab detection (every notebook's setup cell)
- ``datasets``: the real digits and photos that packages ship, and the synthetic shapes scenes
- ``ops``: from-scratch reference ops (1x1 conv, GAP, box IoU, NMS, RoIPool), each checked
  against torchvision / torch.nn
- ``cost``: parameter and multiply-add counts, forward-pass timing
- ``metrics``: confusion matrix, accuracy, mean accuracy and mean IoU, boundary IoU;
  detection matching, AP and mAP (boxes and masks)
- ``losses``: segmentation losses (softmax and per-class sigmoid cross-entropy)
- ``models``: the small networks the notebooks train (classification; FCN and U-Net)
- ``train``: one small fit/evaluate loop with progress bars and a history
- ``viz``: figures (image grids, boxes, masks, label maps, curves, confusion matrices)
- ``checks``: what the exercise check cells call
- ``widgets``: the ipywidgets explorers (each has a static twin in ``viz``)
- ``pretrained``: torchvision's pretrained models on real photos (optional cells, downloads)
- ``grading``: releasing the student versions and grading submissions with nbval
"""

__version__ = "0.1.0"
