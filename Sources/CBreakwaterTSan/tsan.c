// CBreakwaterTSan is a header: its functions are static inline. This file only gives the target a source
// and checks that the header compiles as C.
#include "CBreakwaterTSan.h"
