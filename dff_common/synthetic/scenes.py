"""Synthetic videos with exact ground truth: frames, instances, semantics, boxes and flow.

A procedurally textured *world* (a large image with a per-pixel "stuff" label layout) is seen
through a camera window that translates, rotates and zooms at constant rates; K textured
foreground objects (rectangle, ellipse or polygon, one class id each) move over it with their
own translation, rotation and scale rates. Every surface moves by a known similarity transform,
so the flow between any two frames is exact, including for occluded pixels (the motion of the
surface seen at ``p`` in the current frame, as in Flying Chairs).

Public API (stable; the Cityscapes and ImageNet VID layout generators build on it):

- ``render_video(num_frames, height, width, rng, object_classes=(), **motion)`` returns a
  :class:`SyntheticVideo` with

  - ``frames`` uint8 ``(T, H, W, 3)`` RGB,
  - ``instance_maps`` int32 ``(T, H, W)``: 0 = background, ``j`` = object ``j`` (1-based),
  - ``semantic_maps`` int32 ``(T, H, W)``: the world's ``background_labels`` under the camera
    for background pixels, ``object_classes[j - 1]`` for pixels of object ``j``,
  - ``object_classes`` int64 ``(K,)``,
  - ``boxes`` float32 ``(T, K, 4)`` x1, y1, x2, y2 (pixel ``c`` covers ``[c, c + 1)``) tight
    around the *visible* pixels of each object, NaN where ``visible`` (bool ``(T, K)``) is false,
  - ``backward_flow(t, s)`` float32 ``(H, W, 2)``: the DFF flow ``M_{t->s}`` from the current
    frame ``t`` into the key frame ``s``: the surface seen at pixel ``p`` of frame ``t`` lies at
    ``p + M(p)`` in frame ``s``; channel 0 = x (columns), in pixels,
  - ``co_visible(t, s)`` bool ``(H, W)``: pixels of frame ``t`` whose surface is also the one
    seen at ``round(p + M(p))`` in frame ``s`` (inside the frame, not occluded),
  - ``camera`` ``(T, 3, 3)`` frame-to-world and ``object_poses`` ``(T, K, 3, 3)``
    object-to-world homogeneous transforms, and the world ``background`` (:class:`Background`).

- ``make_background(height, width, rng, classes, layout)`` and ``make_texture(...)`` build
  worlds and textures; ``class_color(c)`` is the base colour of class ``c`` (appearance depends
  on the class, so recognition networks can learn the classes).

Coordinates: pixel ``(x, y)`` has its centre at integer ``x`` (column), ``y`` (row), the
convention of ``cv2.remap`` and of ``grid_sample(align_corners=True)``.
"""

import colorsys
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "SHAPES",
    "Background",
    "SyntheticVideo",
    "class_color",
    "make_background",
    "make_texture",
    "render_video",
]

SHAPES = ("rectangle", "ellipse", "polygon")


def class_color(class_id: int) -> np.ndarray:
    """Base RGB colour in [0, 1] of class ``class_id`` (golden-ratio hue spacing), shape (3,)."""
    hue = (0.1 + 0.61803398875 * class_id) % 1.0
    return np.array(colorsys.hsv_to_rgb(hue, 0.65, 0.85))


def _smooth_noise(height: int, width: int, cell: int, channels: int, rng) -> np.ndarray:
    """Noise in [0, 1] with features of about ``cell`` pixels, shape (height, width, channels)."""
    coarse = rng.random((height // cell + 3, width // cell + 3, channels)).astype(np.float32)
    big = cv2.resize(coarse, (coarse.shape[1] * cell, coarse.shape[0] * cell), cv2.INTER_CUBIC)
    big = big.reshape(big.shape[0], big.shape[1], channels)
    return big[cell : cell + height, cell : cell + width]


def make_texture(height: int, width: int, rng: np.random.Generator, base_color) -> np.ndarray:
    """Colourful multi-scale texture around ``base_color`` (RGB in [0, 1]).

    Multi-scale noise (cells of 32 to 3 pixels) modulates brightness and hue, then random
    anti-aliased circles, rectangles and lines add sharp edges, so that motion is observable
    everywhere; a light blur keeps bilinear resampling close to exact.

    Returns:
        np.ndarray: uint8 (height, width, 3) RGB.
    """
    base = np.asarray(base_color, dtype=np.float32)
    luma = sum(
        w * _smooth_noise(height, width, c, 1, rng) for c, w in ((32, 0.4), (8, 0.35), (3, 0.25))
    )
    chroma = _smooth_noise(height, width, 12, 3, rng) - 0.5
    img = base * (0.35 + 0.9 * luma) + 0.35 * chroma
    num_shapes = max(4, height * width // 300)
    kinds = rng.integers(0, 3, num_shapes)
    for kind in kinds:
        color = np.clip(base + rng.normal(0.0, 0.3, 3), 0, 1) * rng.uniform(0.3, 1.2)
        color = tuple(float(v) for v in np.clip(color, 0, 1))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(2, max(3, min(height, width) // 6)))
        if kind == 0:
            cv2.circle(img, (x, y), size, color, -1, cv2.LINE_AA)
        elif kind == 1:
            cv2.rectangle(img, (x, y), (x + size, y + size // 2 + 1), color, -1, cv2.LINE_AA)
        else:
            end = (
                x + int(rng.integers(-2 * size, 2 * size)),
                y + int(rng.integers(-size, size)),
            )
            cv2.line(img, (x, y), end, color, int(rng.integers(2, 4)), cv2.LINE_AA)
    img = cv2.GaussianBlur(img, (0, 0), 1.0)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


@dataclass(frozen=True)
class Background:
    """The world the camera moves over.

    Attributes:
        texture (np.ndarray): uint8 (Hw, Ww, 3) RGB.
        labels (np.ndarray): int32 (Hw, Ww) per-pixel "stuff" class of the world.
    """

    texture: np.ndarray
    labels: np.ndarray


def _band_labels(height: int, width: int, classes: Sequence[int], rng) -> np.ndarray:
    """Horizontal bands of ``classes`` from top to bottom with wavy boundaries."""
    n = len(classes)
    xs = np.arange(width)
    rows = np.arange(height)[:, None]
    labels = np.full((height, width), classes[0], np.int32)
    for i in range(1, n):
        phase, period = rng.uniform(0, 2 * np.pi), rng.uniform(0.3, 1.0) * width
        wave = 0.25 * height / n * np.sin(2 * np.pi * xs / period + phase)
        labels[rows >= i * height / n + wave[None, :]] = classes[i]
    return labels


def _voronoi_labels(height: int, width: int, classes: Sequence[int], rng) -> np.ndarray:
    """Random Voronoi cells (about 4 per class), each labelled with one of ``classes``."""
    num_cells = 4 * len(classes)
    seeds = rng.random((num_cells, 2)) * (width, height)
    cell_class = np.asarray(classes, np.int32)[np.arange(num_cells) % len(classes)]
    ys, xs = np.mgrid[0:height:4, 0:width:4]
    dist = (xs[..., None] - seeds[:, 0]) ** 2 + (ys[..., None] - seeds[:, 1]) ** 2
    small = cell_class[np.argmin(dist, axis=-1)]
    return np.repeat(np.repeat(small, 4, 0), 4, 1)[:height, :width]


def make_background(
    height: int,
    width: int,
    rng: np.random.Generator,
    classes: Sequence[int] = (0,),
    layout: str = "bands",
) -> Background:
    """A textured world whose regions carry the labels ``classes``.

    Args:
        height (int): world height in pixels.
        width (int): world width in pixels.
        rng (np.random.Generator): source of randomness.
        classes (Sequence[int]): stuff classes; each region's texture is built around
            ``class_color(c)``. Defaults to (0,).
        layout (str): "bands" (classes stacked top to bottom with wavy boundaries, e.g.
            sky / building / vegetation / road) or "voronoi" (random cells). Defaults to "bands".

    Returns:
        Background: texture (height, width, 3) uint8 and labels (height, width) int32.
    """
    if len(classes) == 0:
        raise ValueError("make_background: classes must not be empty")
    if layout == "bands":
        labels = _band_labels(height, width, classes, rng)
    elif layout == "voronoi":
        labels = _voronoi_labels(height, width, classes, rng)
    else:
        raise ValueError(f"make_background: unknown layout {layout!r} (use 'bands' or 'voronoi')")
    texture = np.zeros((height, width, 3), np.float32)
    for c in dict.fromkeys(classes):
        region = labels == c
        if region.any():
            # soft region boundaries keep bilinear resampling close to exact across regions
            weight = cv2.GaussianBlur(region.astype(np.float32), (0, 0), 1.0)[..., None]
            texture += weight * make_texture(height, width, rng, class_color(c))
    return Background((texture + 0.5).clip(0, 255).astype(np.uint8), labels)


def _similarity(center, angle: float, scale: float, origin) -> np.ndarray:
    """3x3 map ``p -> center + scale * R(angle) (p - origin)``."""
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    mat = np.eye(3)
    mat[:2, :2] = rot
    mat[:2, 2] = np.asarray(center) - rot @ np.asarray(origin)
    return mat


def _apply(mat: np.ndarray, xs: np.ndarray, ys: np.ndarray):
    """Apply 3x3 affine maps ``mat`` (..., 3, 3) to points (xs, ys) broadcast against them."""
    return (
        mat[..., 0, 0] * xs + mat[..., 0, 1] * ys + mat[..., 0, 2],
        mat[..., 1, 0] * xs + mat[..., 1, 1] * ys + mat[..., 1, 2],
    )


def _shape_mask(height: int, width: int, shape: str, rng) -> np.ndarray:
    """Binary uint8 mask of an object's ``shape`` inside its (height, width) patch."""
    mask = np.zeros((height, width), np.uint8)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    if shape == "rectangle":
        mask[1:-1, 1:-1] = 1
    elif shape == "ellipse":
        axes = (max(1, int(cx)), max(1, int(cy)))
        cv2.ellipse(mask, (round(cx), round(cy)), axes, 0, 0, 360, 1, -1)
    elif shape == "polygon":
        angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(5, 9))))
        radii = rng.uniform(0.55, 1.0, angles.size)
        pts = np.stack([cx + radii * cx * np.cos(angles), cy + radii * cy * np.sin(angles)], 1)
        cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
    else:
        raise ValueError(f"unknown object shape {shape!r} (use one of {SHAPES})")
    return mask


@dataclass(frozen=True)
class SyntheticVideo:
    """A rendered video and its exact ground truth (see the module docstring for conventions).

    Attributes:
        frames (np.ndarray): uint8 (T, H, W, 3) RGB.
        instance_maps (np.ndarray): int32 (T, H, W), 0 = background, j = object j (1-based).
        semantic_maps (np.ndarray): int32 (T, H, W) per-pixel class.
        object_classes (np.ndarray): int64 (K,) class of object j at index j - 1.
        boxes (np.ndarray): float32 (T, K, 4) x1, y1, x2, y2 of the visible pixels, NaN if none.
        visible (np.ndarray): bool (T, K), whether object j has any visible pixel in frame t.
        camera (np.ndarray): float64 (T, 3, 3) frame-to-world transforms.
        object_poses (np.ndarray): float64 (T, K, 3, 3) object-patch-to-world transforms.
        background (Background): the world.
    """

    frames: np.ndarray
    instance_maps: np.ndarray
    semantic_maps: np.ndarray
    object_classes: np.ndarray
    boxes: np.ndarray
    visible: np.ndarray
    camera: np.ndarray
    object_poses: np.ndarray
    background: Background

    def _frame_to_frame(self, t: int, s: int) -> np.ndarray:
        """(K + 1, 3, 3) maps from frame t to frame s of the background (0) and each object."""
        to_s = np.linalg.inv(self.camera[s])
        mats = [to_s @ self.camera[t]]
        for j in range(len(self.object_classes)):
            pose_t, pose_s = self.object_poses[t, j], self.object_poses[s, j]
            mats.append(to_s @ pose_s @ np.linalg.inv(pose_t) @ self.camera[t])
        return np.stack(mats)

    def backward_flow(self, t: int, s: int) -> np.ndarray:
        """Exact flow ``M_{t->s}`` from current frame ``t`` into key frame ``s`` (Eq. 1).

        Args:
            t (int): current frame index.
            s (int): key frame index.

        Returns:
            np.ndarray: float32 (H, W, 2); the surface seen at pixel p of frame t lies at
            p + M(p) in frame s; channel 0 = x. Occluded pixels keep their surface's motion.
        """
        num_frames, height, width = self.instance_maps.shape
        for name, idx in (("t", t), ("s", s)):
            if not 0 <= idx < num_frames:
                raise ValueError(f"backward_flow: frame {name}={idx} outside [0, {num_frames})")
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
        mats = self._frame_to_frame(t, s)[self.instance_maps[t]]  # [H, W, 3, 3]
        qx, qy = _apply(mats, xs, ys)
        return np.stack([qx - xs, qy - ys], axis=-1).astype(np.float32)

    def co_visible(self, t: int, s: int) -> np.ndarray:
        """Bool (H, W): pixels of frame t whose surface is seen at round(p + M(p)) in frame s."""
        _, height, width = self.instance_maps.shape
        flow = self.backward_flow(t, s)
        ys, xs = np.mgrid[0:height, 0:width]
        qx = np.rint(xs + flow[..., 0]).astype(np.int64)
        qy = np.rint(ys + flow[..., 1]).astype(np.int64)
        inside = (qx >= 0) & (qx < width) & (qy >= 0) & (qy < height)
        target = self.instance_maps[s][qy.clip(0, height - 1), qx.clip(0, width - 1)]
        return inside & (target == self.instance_maps[t])


def _uniform_vector(rng, max_norm: float) -> np.ndarray:
    """A 2-vector with uniform direction and norm uniform in [0, max_norm]."""
    angle = rng.uniform(0, 2 * np.pi)
    return rng.uniform(0, max_norm) * np.array([np.cos(angle), np.sin(angle)])


def render_video(
    num_frames: int,
    height: int,
    width: int,
    rng: np.random.Generator,
    object_classes: Sequence[int] = (),
    *,
    camera_speed: float = 4.0,
    camera_rotation: float = 0.0,
    camera_zoom: float | tuple = 0.0,
    object_speed: float = 3.0,
    object_rotation: float = 0.0,
    object_scale: float = 0.0,
    object_size: tuple = (0.15, 0.4),
    object_shapes: Sequence[str] | None = None,
    background_classes: Sequence[int] = (0,),
    background_layout: str = "bands",
) -> SyntheticVideo:
    """Render a video of textured objects over a moving textured world, with exact ground truth.

    All rates are constant over the video and drawn uniformly up to the given maxima. Objects
    are placed so that their centres lie inside the frame at the middle frame; object ``j`` is
    drawn over objects ``< j``.

    Args:
        num_frames (int): T >= 1.
        height (int): H, frame height in pixels.
        width (int): W, frame width in pixels.
        rng (np.random.Generator): source of all randomness (same seed, same video).
        object_classes (Sequence[int]): class of each of the K objects. Defaults to ().
        camera_speed (float): max camera translation, world pixels per frame. Defaults to 4.
        camera_rotation (float): max camera rotation, degrees per frame. Defaults to 0.
        camera_zoom (float | tuple): max |log zoom| per frame (0.02 = 2 % per frame), or a
            (low, high) range of it, negative zooming in (the view narrows: content leaves the
            frame and none enters, as seen from a car driving on). Defaults to 0.
        object_speed (float): max object speed relative to the camera's translation, pixels
            per frame. Defaults to 3.
        object_rotation (float): max object rotation, degrees per frame. Defaults to 0.
        object_scale (float): max |log scale| change of objects per frame. Defaults to 0.
        object_size (tuple): (min, max) side of an object as a fraction of min(H, W).
            Defaults to (0.15, 0.4).
        object_shapes (Sequence[str] | None): shape of each object among "rectangle",
            "ellipse", "polygon"; None derives it from the class (``SHAPES[c % 3]``).
        background_classes (Sequence[int]): stuff classes of the world. Defaults to (0,).
        background_layout (str): "bands" or "voronoi", see :func:`make_background`.

    Returns:
        SyntheticVideo: frames, maps, boxes, transforms and the exact flow (module docstring).
    """
    if num_frames < 1 or height < 2 or width < 2:
        raise ValueError(f"render_video: bad size T={num_frames}, H={height}, W={width}")
    classes = np.asarray(object_classes, np.int64).reshape(-1)
    shapes = [SHAPES[c % 3] for c in classes] if object_shapes is None else list(object_shapes)
    if len(shapes) != len(classes):
        raise ValueError(f"render_video: {len(shapes)} object_shapes for {len(classes)} objects")
    times = np.arange(num_frames, dtype=np.float64)
    window_center = ((width - 1) / 2, (height - 1) / 2)
    # camera: frame -> world (world origin fixed later)
    cam_velocity = _uniform_vector(rng, camera_speed)
    cam_spin = np.deg2rad(rng.uniform(-camera_rotation, camera_rotation))
    zoom_range = (-camera_zoom, camera_zoom) if np.isscalar(camera_zoom) else camera_zoom
    cam_zoom = rng.uniform(*zoom_range)
    camera = np.stack(
        [
            _similarity(cam_velocity * t, cam_spin * t, np.exp(cam_zoom * t), window_center)
            for t in times
        ]
    )
    # objects: patch -> world, centres inside the frame at the middle frame
    t_mid = (num_frames - 1) / 2
    side = min(height, width)
    poses = np.zeros((num_frames, len(classes), 3, 3))
    patches, masks = [], []
    for j, (cls, shape) in enumerate(zip(classes, shapes)):
        ph, pw = np.maximum(3, np.round(rng.uniform(*object_size, 2) * side)).astype(int)
        patches.append(make_texture(ph, pw, rng, class_color(int(cls))))
        masks.append(_shape_mask(ph, pw, shape, rng))
        anchor = rng.uniform((0.1 * width, 0.1 * height), (0.9 * width, 0.9 * height))
        mid_camera = _similarity(
            cam_velocity * t_mid,
            cam_spin * t_mid,
            np.exp(cam_zoom * t_mid),
            window_center,
        )
        center_mid = _apply(mid_camera, *anchor)
        velocity = cam_velocity + _uniform_vector(rng, object_speed)
        spin = np.deg2rad(rng.uniform(-object_rotation, object_rotation))
        growth = rng.uniform(-object_scale, object_scale)
        for t in times:
            dt = t - t_mid
            center = np.asarray(center_mid) + velocity * dt
            poses[int(t), j] = _similarity(
                center, spin * dt, np.exp(growth * dt), ((pw - 1) / 2, (ph - 1) / 2)
            )
    # world: the bounding box of every camera window, with a margin for interpolation
    corners = np.array([[-1, -1], [width, -1], [-1, height], [width, height]], np.float64).T
    wx, wy = _apply(camera[:, None], corners[0][None], corners[1][None])
    lo = np.floor([wx.min(), wy.min()]) - 2
    shift = np.eye(3)
    shift[:2, 2] = -lo
    camera, poses = shift @ camera, shift @ poses
    world_w, world_h = (
        int(np.ceil(wx.max() - lo[0])) + 3,
        int(np.ceil(wy.max() - lo[1])) + 3,
    )
    background = make_background(world_h, world_w, rng, background_classes, background_layout)
    return _render(camera, poses, patches, masks, classes, background, height, width)


def _render(camera, poses, patches, masks, classes, background, height, width) -> SyntheticVideo:
    """Draw every frame and its maps from the sampled transforms."""
    num_frames, num_objects = poses.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    instances = np.zeros((num_frames, height, width), np.int32)
    semantics = np.empty((num_frames, height, width), np.int32)
    world_h, world_w = background.labels.shape
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    for t in range(num_frames):
        frames[t] = cv2.warpAffine(background.texture, camera[t][:2], (width, height), flags=flags)
        wx, wy = _apply(camera[t], xs, ys)
        wx = np.rint(wx).astype(np.int64).clip(0, world_w - 1)
        wy = np.rint(wy).astype(np.int64).clip(0, world_h - 1)
        semantics[t] = background.labels[wy, wx]
        for j in range(num_objects):
            to_patch = np.linalg.inv(poses[t, j]) @ camera[t]
            ph, pw = masks[j].shape
            ux, uy = (np.rint(v).astype(np.int64) for v in _apply(to_patch, xs, ys))
            inside = (ux >= 0) & (ux < pw) & (uy >= 0) & (uy < ph)
            on_object = inside & (masks[j][uy.clip(0, ph - 1), ux.clip(0, pw - 1)] > 0)
            if not on_object.any():
                continue
            color = cv2.warpAffine(
                patches[j],
                to_patch[:2],
                (width, height),
                flags=flags,
                borderMode=cv2.BORDER_REPLICATE,
            )
            frames[t][on_object] = color[on_object]
            instances[t][on_object] = j + 1
            semantics[t][on_object] = classes[j]
    boxes = np.full((num_frames, num_objects, 4), np.nan, np.float32)
    visible = np.zeros((num_frames, num_objects), bool)
    for t in range(num_frames):
        for j in range(num_objects):
            rows, cols = np.nonzero(instances[t] == j + 1)
            if rows.size:
                visible[t, j] = True
                boxes[t, j] = (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
    return SyntheticVideo(
        frames, instances, semantics, classes, boxes, visible, camera, poses, background
    )
