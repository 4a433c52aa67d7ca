"""Pedestrians in overhead depth maps (the paper's application): 80×80 crops, 40 stamps of 40×40, 3 slots.
Settings of the published 2019 run 0. The real recordings go in data/pedestrian/ (<minute>/<image>.png +
ped_info.json, or pedestrian.tar.gz); without them a documented synthetic set is generated there
(``python -m stampnet.data.pedestrian --synthetic``). ``python pedestrian.py with quick``

The config is stampnet/experiments/pedestrian.py; ``python -m stampnet.run pedestrian with …`` is the same."""
from stampnet.experiment import build

ex = build("pedestrian", __file__)

if __name__ == "__main__":
    ex.run_commandline()
