// entry_kind: what an entry of a tree is (a walk's entries, a build
// context's), on its own so that naming it does not parse the tree walk.
#pragma once

namespace rtb {

/// What an entry of a tree is.
enum class entry_kind : char { directory = 'd', file = 'f', symlink = 'l' };

}  // namespace rtb
