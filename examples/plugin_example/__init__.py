"""The example plugin's folder, a package only so its tests import as ``examples.plugin_example.tests``."""
