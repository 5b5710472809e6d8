# corpus: entry=DetectionHead
# corpus: init=in_channels=16, num_classes=5, num_anchors=3
# corpus: input=features=2,16,8,8
# corpus: input=mask=2,10 bool
# A single-stage detection head (RetinaNet/SSD-like) with post-processing whose output sizes
# depend on the data: score thresholding by boolean indexing, nonzero, masked mean pooling.
import torch
import torch.nn as nn


class DetectionHead(nn.Module):
    def __init__(self, in_channels, num_classes, num_anchors=9, score_thresh=0.5):
        super().__init__()
        self.num_classes = num_classes
        self.num_anchors = num_anchors
        self.score_thresh = score_thresh
        self.cls_logits = nn.Conv2d(in_channels, num_anchors * num_classes, kernel_size=3, padding=1)
        self.bbox_pred = nn.Conv2d(in_channels, num_anchors * 4, kernel_size=3, padding=1)

    def forward(self, features, mask):
        N, _, H, W = features.shape
        cls = self.cls_logits(features)                        # (N, A*K, H, W)
        cls = cls.view(N, self.num_anchors, self.num_classes, H, W)
        cls = cls.permute(0, 3, 4, 1, 2).reshape(N, -1, self.num_classes)   # (N, H*W*A, K)
        box = self.bbox_pred(features)
        box = box.view(N, -1, 4, H, W).permute(0, 3, 4, 1, 2).reshape(N, -1, 4)
        scores, labels = cls.sigmoid().max(dim=-1)               # (N, H*W*A)
        keep = scores > self.score_thresh
        kept_boxes = box[keep]                                  # (n_kept, 4), data dependent
        kept_labels = labels[keep]
        first_image = torch.nonzero(keep[0]).squeeze(1)
        lengths = mask.sum(dim=1)
        pooled = (scores[:, :10] * mask).sum(dim=1) / lengths.clamp(min=1)
        return kept_boxes, kept_labels, first_image, pooled
