"""fabricsim.netsim"""
