#include "Particle.h"
