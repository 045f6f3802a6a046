"""A ready-made host for examples, tests and the demo: RAM, one PCIe root complex with a NIC
(prefetchable 64-bit BAR, a 32-bit non-prefetchable BAR, SR-IOV VFs), a GICv2, an AMBA device
and a Grace Hopper GPU's device memory.  Addresses are plausible, not from a real board."""

from __future__ import annotations

from .bus import AxiErrorModel, Containment, PcieErrorModel
from .devices import AmbaDevice, Gicv2, NvgraceGpu
from .pcie import Bar, BarKind, Bdf, HostBridgeWindow, PcieEndpoint, RootComplex, SriovCapability, WindowKind
from .physmap import Platform, RamRegion

__all__ = ["example_platform", "EXAMPLE_NIC", "EXAMPLE_AMBA", "EXAMPLE_GPU"]

EXAMPLE_NIC = "nic"
EXAMPLE_AMBA = "dma-engine"
EXAMPLE_GPU = "gpu"

GiB = 1 << 30
MiB = 1 << 20


def example_platform(
    *,
    aer: bool = True,
    dpc: bool = False,
    axi_containment: Containment = Containment.UNCONTAINED,
    carveout: bool = True,
) -> Platform:
    """The example host.

    :param aer: PCIe AER enabled; ``dpc``: DPC enabled.
    :param axi_containment: how the platform handles an AXI SLVERR/DECERR external abort.
    :param carveout: include 256 MiB of RAM removed from the linear map (``no-map``).
    """
    nic = PcieEndpoint(
        EXAMPLE_NIC, Bdf(1, 0, 0),
        bars=(
            Bar(0, 0x80_0000_0000, 32 * MiB, BarKind.MEM64, True, frozenset({0})),
            Bar(2, 0x4000_0000, 64 * 1024, BarKind.MEM32, False),
        ),
        sriov=SriovCapability(4, (Bar(0, 0x80_1000_0000, 1 * MiB, BarKind.MEM64, True),)),
        vendor=0x15B3, device_id=0x101D,
    )
    rc = RootComplex(
        "pcie0", ecam_base=0x30_0000_0000, bus_start=0, bus_end=0xF,
        windows=(HostBridgeWindow(0x4000_0000, 512 * MiB, WindowKind.MEM32),
                 HostBridgeWindow(0x80_0000_0000, 64 * GiB, WindowKind.MEM64_PREF)),
        endpoints=(nic,), errors=PcieErrorModel(aer=aer, dpc=dpc),
    )
    ram = [RamRegion(0x8000_0000, 2 * GiB, True, "ram0")]
    if carveout:
        ram.append(RamRegion(0x1_0000_0000, 256 * MiB, False, "no-map carve-out"))
    return Platform(
        ram=tuple(ram),
        root_complexes=(rc,),
        amba=(AmbaDevice(EXAMPLE_AMBA, 0x0900_0000, 64 * 1024,
                         AxiErrorModel(containment=axi_containment)),),
        gic=Gicv2(gicd_base=0x0800_0000, gicc_base=0x0801_0000, gich_base=0x0803_0000,
                  gicv_base=0x0804_0000),
        nvgrace=(NvgraceGpu(EXAMPLE_GPU, Bdf(9, 0, 0), usemem_base=0x400_0000_0000,
                            usemem_size=8 * GiB, resmem_base=0x402_0000_0000,
                            resmem_size=1 * GiB),),
        name="example",
    )
