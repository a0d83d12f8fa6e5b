from adanns._core import *
