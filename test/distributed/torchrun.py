# torchrun (torch.distributed.run) for the tests: Debian 12's PyTorch 1.13 under its Python
# 3.11 fails in start_processes (Std.from_str gives None for the default redirects); this
# maps None to Std.NONE and runs torchrun unchanged otherwise.
import sys

import torch.distributed.elastic.multiprocessing as mp
import torch.distributed.elastic.multiprocessing.api as api

_to_map = api.to_map


def to_map(value, local_world_size):
    return _to_map(api.Std.NONE if value is None else value, local_world_size)


api.to_map = to_map
mp.to_map = to_map

from torch.distributed.run import main  # noqa: E402

sys.exit(main())
