"""The networks: the GPC layer, interleave and D6 block, MobileNet and gpcMobileNet, the variant registry, counts."""
