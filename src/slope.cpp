#include "slope/slope.hpp"
