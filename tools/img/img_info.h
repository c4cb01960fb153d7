// Pieces of the info report shared with other commands.
#pragma once

#include "block/image.h"

namespace corvid::img {

// "Snapshot list:" and its table, as info and snapshot -l print it.
void print_snapshot_list(const block::ImageInfo& info);

}  // namespace corvid::img
