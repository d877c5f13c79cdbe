/* The Photon application API, the part the simulated Photon provides (Device OS 0.6.x subset). */
#ifndef PHOTONDBG_PARTICLE_H
#define PHOTONDBG_PARTICLE_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "wiring_string.h"
#include "wiring_print.h"
#include "wiring_network.h"
#include "wiring_system.h"

void setup();
void loop();
#endif
