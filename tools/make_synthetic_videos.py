#!/usr/bin/env python
"""Write synthetic street-scene videos as mp4 files, to try the "my videos" recipe without any.

    python tools/make_synthetic_videos.py --out my_videos [--videos 4] [--seed 7]

Each video is one 30-frame 128x256 snippet of the synthetic Cityscapes-layout set
(``dff_common.synthetic.cityscapes``), written as ``clip<j>.mp4`` (mp4v, 17 fps); the set is
written under ``<out>/.source`` first. Nothing is replaced.
"""

import argparse
from pathlib import Path

from dff_common.data.cityscapes import list_annotated_frames, read_image
from dff_common.synthetic.cityscapes import make_synthetic_cityscapes
from dff_common.video_io import FrameWriter


def main(argv=None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder of the mp4 files (must not exist)")
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    out = Path(args.out)
    if out.exists():
        parser.error(f"--out {out} exists: give a new folder (nothing is replaced)")
    source = out / ".source"
    make_synthetic_cityscapes(source, {"train": args.videos}, seed=args.seed)
    written = []
    for j, annotated in enumerate(list_annotated_frames(source, "train")):
        writer = FrameWriter(out / f"clip{j}.mp4", fps=17, overwrite=False)
        for frame in annotated.snippet:
            writer.write(read_image(annotated.frame_path(frame), "bgr"))
        writer.close()
        written.append(writer.path)
        print(f"wrote {writer.path} ({len(annotated.snippet)} frames)")
    return written


if __name__ == "__main__":
    main()
