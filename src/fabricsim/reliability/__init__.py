"""fabricsim.reliability"""
