"""The command line (click only): `producer run|compare|sweep|quiz|watch|local ...`, a shell over producer.api."""
