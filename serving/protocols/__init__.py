"""What goes over the wire: KServe v2 and TF Serving REST requests turned into checked arrays, error answers."""
