// Precompiled once for every C++ translation unit of the addon (see CMakeLists.txt):
// torch's headers cost ~25 s per file to parse; through a precompiled header, ~5 s.
#pragma once
#include <torch/torch.h>
