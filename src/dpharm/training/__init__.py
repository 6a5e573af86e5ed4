"""Training: the network, DP-SGD (the fast stacked path and Opacus's own), the fair methods and accounting."""
