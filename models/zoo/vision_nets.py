"""Super-resolution and dense-prediction networks written in torch (traced by `zoo.vision`).

- EDSR (Lim et al., CVPRW 2017), as in the authors' EDSR-PyTorch: head conv, R
  residual blocks (conv-ReLU-conv, residual scaling), body conv, sub-pixel
  upsampler (conv to 4F + PixelShuffle(2) per factor 2, or 9F + PixelShuffle(3)),
  tail conv. Baseline: R=16, F=64; full: R=32, F=256, scaling 0.1. The RGB mean
  shift is a constant (the paper's parameter counts leave it out).
- SwinIR (Liang et al., ICCVW 2021), classical SR: conv, 6 residual Swin transformer
  blocks of 6 layers (embed 180, 6 heads, window 8, MLP ratio 2, shifted windows
  with the attention mask, relative-position bias), conv, pixel-shuffle upsampler
  with 64 channels. Hand-written window attention (`q @ k.transpose(-2, -1)`).
- DeepLabV3-ResNet50 (Chen et al. 2017) in torchvision's layout
  (`torchvision.models.segmentation.deeplabv3_resnet50`): ResNet-50 with layer3/4
  dilated (output stride 8), ASPP with rates 12/24/36 and image pooling, 3x3 conv,
  1x1 classifier; optional FCN auxiliary head on layer3. torchvision itself does not
  import beside the local torch build, so the architecture is written out here.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["EDSR", "DeepLabV3", "SwinIR"]


class _ResBlock(nn.Module):
    def __init__(self, f: int, scale: float) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(f, f, 3, padding=1), nn.ReLU(True), nn.Conv2d(f, f, 3, padding=1))
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) * self.scale


def _upsampler(scale: int, f: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    if scale in (2, 4, 8):
        for _ in range({2: 1, 4: 2, 8: 3}[scale]):
            mods += [nn.Conv2d(f, 4 * f, 3, padding=1), nn.PixelShuffle(2)]
    elif scale == 3:
        mods += [nn.Conv2d(f, 9 * f, 3, padding=1), nn.PixelShuffle(3)]
    else:
        raise ValueError(f"upscale factor {scale} (2, 3, 4 or 8)")
    return nn.Sequential(*mods)


class EDSR(nn.Module):
    def __init__(self, blocks: int, feats: int, scale: int, res_scale: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("rgb_mean", torch.tensor([0.4488, 0.4371, 0.4040]).view(1, 3, 1, 1))
        self.head = nn.Sequential(nn.Conv2d(3, feats, 3, padding=1))
        self.body = nn.Sequential(*[_ResBlock(feats, res_scale) for _ in range(blocks)],
                                  nn.Conv2d(feats, feats, 3, padding=1))
        self.tail = nn.Sequential(_upsampler(scale, feats), nn.Conv2d(feats, 3, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(x - self.rgb_mean)
        x = x + self.body(x)
        return self.tail(x) + self.rgb_mean


def _windows(x: torch.Tensor, w: int) -> torch.Tensor:
    b, h, wd, c = x.shape
    x = x.view(b, h // w, w, wd // w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, w * w, c)


def _unwindows(x: torch.Tensor, w: int, b: int, h: int, wd: int) -> torch.Tensor:
    x = x.view(b, h // w, wd // w, w, w, -1).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, wd, -1)


class _WindowAttention(nn.Module):
    def __init__(self, dim: int, window: int, heads: int) -> None:
        super().__init__()
        self.window, self.heads = window, heads
        self.scale = (dim // heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
        self.register_buffer("relative_position_index", rel[..., 0] * (2 * window - 1) + rel[..., 1])
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        bw, n, c = x.shape
        qkv = self.qkv(x).reshape(bw, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = q @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
        attn = attn + bias.permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(bw // nw, nw, self.heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.heads, n, n)
        x = (attn.softmax(-1) @ v).transpose(1, 2).reshape(bw, n, c)
        return self.proj(x)


class _SwinLayer(nn.Module):
    def __init__(self, dim: int, heads: int, window: int, shift: int, mlp_ratio: float) -> None:
        super().__init__()
        self.window, self.shift = window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = _WindowAttention(dim, window, heads)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def _mask(self, h: int, w: int, device: torch.device) -> torch.Tensor:
        img = torch.zeros(1, h, w, 1, device=device)
        cut = (slice(0, -self.window), slice(-self.window, -self.shift), slice(-self.shift, None))
        cnt = 0
        for hs in cut:
            for ws in cut:
                img[:, hs, ws, :] = cnt
                cnt += 1
        win = _windows(img, self.window).squeeze(-1)
        m = win.unsqueeze(1) - win.unsqueeze(2)
        return m.masked_fill(m != 0, -100.0).masked_fill(m == 0, 0.0)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        h, w = size
        b, _, c = x.shape
        y = self.norm1(x).view(b, h, w, c)
        mask = None
        if self.shift:
            y = torch.roll(y, (-self.shift, -self.shift), (1, 2))
            mask = self._mask(h, w, x.device)
        y = _unwindows(self.attn(_windows(y, self.window), mask), self.window, b, h, w)
        if self.shift:
            y = torch.roll(y, (self.shift, self.shift), (1, 2))
        x = x + y.reshape(b, h * w, c)
        return x + self.mlp(self.norm2(x))


class _RSTB(nn.Module):
    def __init__(self, dim: int, depth: int, heads: int, window: int, mlp_ratio: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(_SwinLayer(dim, heads, window, 0 if i % 2 == 0 else window // 2, mlp_ratio)
                                    for i in range(depth))
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        y = x
        for blk in self.blocks:
            y = blk(y, size)
        b, _, c = y.shape
        y = self.conv(y.transpose(1, 2).reshape(b, c, *size)).flatten(2).transpose(1, 2)
        return x + y


class SwinIR(nn.Module):
    def __init__(self, scale: int, dim: int = 180, depths: tuple[int, ...] = (6,) * 6, heads: int = 6,
                 window: int = 8, mlp_ratio: float = 2.0, feats: int = 64) -> None:
        super().__init__()
        self.window = window
        self.register_buffer("rgb_mean", torch.tensor([0.4488, 0.4371, 0.4040]).view(1, 3, 1, 1))
        self.conv_first = nn.Conv2d(3, dim, 3, padding=1)
        self.patch_norm = nn.LayerNorm(dim)
        self.layers = nn.ModuleList(_RSTB(dim, d, heads, window, mlp_ratio) for d in depths)
        self.norm = nn.LayerNorm(dim)
        self.conv_after_body = nn.Conv2d(dim, dim, 3, padding=1)
        self.conv_before_upsample = nn.Sequential(nn.Conv2d(dim, feats, 3, padding=1), nn.LeakyReLU(inplace=True))
        self.upsample = _upsampler(scale, feats)
        self.conv_last = nn.Conv2d(feats, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.window, (-w) % self.window
        x = F.pad(x - self.rgb_mean, (0, pw, 0, ph), mode="reflect") if (ph or pw) else x - self.rgb_mean
        x = self.conv_first(x)
        b, c, hh, ww = x.shape
        y = self.patch_norm(x.flatten(2).transpose(1, 2))
        for layer in self.layers:
            y = layer(y, (hh, ww))
        y = self.norm(y).transpose(1, 2).reshape(b, c, hh, ww)
        x = self.conv_after_body(y) + x
        return self.conv_last(self.upsample(self.conv_before_upsample(x))) + self.rgb_mean


class _Bottleneck(nn.Module):
    def __init__(self, c_in: int, width: int, stride: int, dilation: int, downsample: nn.Module | None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, dilation, dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * 4)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class _Backbone(nn.Module):
    """torchvision's ResNet-50 with replace_stride_with_dilation=[False, True, True]."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        c_in, dil = 64, 1
        for i, (n, width, stride, dilate) in enumerate(((3, 64, 1, False), (4, 128, 2, False),
                                                        (6, 256, 2, True), (3, 512, 2, True)), start=1):
            prev = dil
            if dilate:
                dil *= stride
                stride = 1
            ds = None
            if stride != 1 or c_in != width * 4:
                ds = nn.Sequential(nn.Conv2d(c_in, width * 4, 1, stride, bias=False), nn.BatchNorm2d(width * 4))
            blocks = [_Bottleneck(c_in, width, stride, prev, ds)]
            blocks += [_Bottleneck(width * 4, width, 1, dil, None) for _ in range(n - 1)]
            setattr(self, f"layer{i}", nn.Sequential(*blocks))
            c_in = width * 4

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = self.layer2(self.layer1(x))
        aux = self.layer3(x)
        return self.layer4(aux), aux


def _cbr(c_in: int, c_out: int, k: int, dilation: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, k, padding=dilation if k == 3 else 0, dilation=dilation, bias=False),
            nn.BatchNorm2d(c_out), nn.ReLU()]


class _ASPP(nn.Module):
    def __init__(self, c_in: int, rates: tuple[int, ...] = (12, 24, 36), c: int = 256) -> None:
        super().__init__()
        self.convs = nn.ModuleList([nn.Sequential(*_cbr(c_in, c, 1))]
                                   + [nn.Sequential(*_cbr(c_in, c, 3, r)) for r in rates])
        self.pooling = nn.Sequential(*_cbr(c_in, c, 1))
        self.project = nn.Sequential(*_cbr(c * (len(rates) + 2), c, 1), nn.Dropout(0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [conv(x) for conv in self.convs]
        pooled = self.pooling(F.adaptive_avg_pool2d(x, 1))
        outs.append(F.interpolate(pooled, size=x.shape[-2:], mode="bilinear", align_corners=False))
        return self.project(torch.cat(outs, 1))


class DeepLabV3(nn.Module):
    def __init__(self, num_classes: int = 21, aux: bool = False) -> None:
        super().__init__()
        self.backbone = _Backbone()
        self.classifier = nn.Sequential(_ASPP(2048), *_cbr(256, 256, 3), nn.Conv2d(256, num_classes, 1))
        self.aux_classifier = (nn.Sequential(*_cbr(1024, 256, 3), nn.Dropout(0.1), nn.Conv2d(256, num_classes, 1))
                               if aux else None)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        size = x.shape[-2:]
        feat, mid = self.backbone(x)
        out = {"out": F.interpolate(self.classifier(feat), size=size, mode="bilinear", align_corners=False)}
        if self.aux_classifier is not None:
            out["aux"] = F.interpolate(self.aux_classifier(mid), size=size, mode="bilinear", align_corners=False)
        return out
