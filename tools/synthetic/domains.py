"""The built-in product domains: product types with their accessories, invented brands and title words.

The order of `DOMAIN_SPECS` is fixed: a domain's position seeds its random stream.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Price tiers, cheapest first.
PRICE_TIERS = ("budget", "mid", "premium")


@dataclass(frozen=True)
class ProductType:
    """A kind of main product and the accessories sold for it."""

    name: str  # goes into the title after the model, e.g. "Trail Running Shoes"
    category: str  # category of the main product
    accessory_category: str  # category of its accessories
    variants: tuple[str, ...]  # title suffixes of the main product (colour, size, capacity ...)
    accessories: tuple[str, ...]  # accessory names, each may carry its own suffix


@dataclass(frozen=True)
class DomainSpec:
    """A product domain: its name (no spaces), id prefix and product types."""

    name: str
    prefix: str
    product_types: tuple[ProductType, ...]


_PT = ProductType

#: The built-in domains, in their fixed order (the order fixes each domain's random stream).
DOMAIN_SPECS: tuple[DomainSpec, ...] = (
    DomainSpec(
        "Electronics",
        "EL",
        (
            _PT(
                "Wireless Noise Cancelling Headphones",
                "Headphones",
                "Headphone Accessories",
                ("Midnight Black", "Silver", "Navy Blue", "Sand"),
                (
                    "Replacement Ear Cushions, 2-Pack",
                    "Hard Shell Carrying Case",
                    "USB-C Charging Cable, 6 ft",
                    "Audio Cable with Inline Mic",
                ),
            ),
            _PT(
                "True Wireless Earbuds",
                "Headphones",
                "Headphone Accessories",
                ("Black", "White", "Sage Green"),
                (
                    "Silicone Ear Tips, 3 Sizes",
                    "Wireless Charging Case",
                    "Protective Case Cover, Black",
                    "Foam Ear Tips, 6-Pack",
                ),
            ),
            _PT(
                "Smartwatch",
                "Wearables",
                "Wearable Accessories",
                ("44mm, Graphite", "40mm, Rose Gold", "44mm, Silver"),
                (
                    "Sport Band, 44mm",
                    "Tempered Glass Screen Protector, 3-Pack",
                    "Magnetic Charging Dock",
                    "Leather Strap, Tan",
                ),
            ),
            _PT(
                "Portable Bluetooth Speaker",
                "Speakers",
                "Speaker Accessories",
                ("Black", "Ocean Blue", "Red", "Stone Grey"),
                ("Travel Case", "Wall Mount Bracket", "Charging Dock", "Carrying Strap"),
            ),
            _PT(
                "4K Action Camera",
                "Cameras",
                "Camera Accessories",
                ("Standard", "Creator Bundle", "Black"),
                (
                    "Rechargeable Battery, 2-Pack",
                    "Waterproof Housing, 40m",
                    "Chest Harness Mount",
                    "Dual Charger &amp; Battery Kit",
                ),
            ),
            _PT(
                "10-Inch Tablet",
                "Tablets",
                "Tablet Accessories",
                ("64GB, Silver", "128GB, Space Grey", "256GB, Blue"),
                ("Folio Case, Navy", "Stylus Pen", "Screen Protector, 2-Pack", "Keyboard Cover"),
            ),
            _PT(
                "E-Reader, 6-Inch Glare-Free Display",
                "E-Readers",
                "E-Reader Accessories",
                ("8GB", "16GB", "32GB, Ad-Free"),
                ("Fabric Cover, Charcoal", "Sleep Cover", "USB-C Power Adapter", "Screen Protector, 2-Pack"),
            ),
        ),
    ),
    DomainSpec(
        "Sports",
        "SP",
        (
            _PT(
                "Trail Running Shoes",
                "Running Shoes",
                "Running Accessories",
                ("Men's, Slate Grey", "Women's, Coral", "Men's, Black", "Women's, Teal"),
                ("Replacement Insoles", "Shoe Laces, 2-Pair", "Trail Gaiters, Black", "Shoe Bag"),
            ),
            _PT(
                "Hiking Backpack",
                "Backpacks",
                "Backpack Accessories",
                ("30L, Forest Green", "40L, Charcoal", "25L, Burnt Orange"),
                ("Rain Cover", "Hydration Bladder, 2L", "Hip Belt Pockets, 2-Pack", "Sternum Strap Whistle"),
            ),
            _PT(
                "Yoga Mat",
                "Yoga",
                "Yoga Accessories",
                ("6mm, Purple", "4mm, Teal", "6mm, Charcoal"),
                ("Carrying Strap", "Yoga Blocks, 2-Pack", "Mat Cleaner Spray, 8 oz", "Mat Towel"),
            ),
            _PT(
                "Tennis Racket",
                "Racquet Sports",
                "Racquet Accessories",
                ("Grip Size 2", "Grip Size 3", "Grip Size 4"),
                (
                    "Overgrip, 3-Pack",
                    "Racket Bag, 6-Racket",
                    "Vibration Dampeners, 2-Pack",
                    "Replacement String Set",
                ),
            ),
            _PT(
                "Road Bike Helmet",
                "Cycling",
                "Cycling Accessories",
                ("Medium, Matte Black", "Large, White", "Small, Red"),
                ("Replacement Pad Set", "Clip-On Visor", "Rear LED Light", "Helmet Bag"),
            ),
            _PT(
                "Camping Tent",
                "Camping",
                "Camping Accessories",
                ("2-Person", "3-Person", "4-Person"),
                ("Footprint Groundsheet", "Aluminium Stake Kit, 12-Pack", "Tent Repair Kit", "Gear Loft"),
            ),
            _PT(
                "Adjustable Dumbbells",
                "Strength Training",
                "Strength Accessories",
                ("25 lb, Pair", "52.5 lb, Pair", "50 lb, Single"),
                ("Storage Stand", "Floor Mat", "Replacement Locking Collars, 2-Pack", "Weight Plate Set"),
            ),
        ),
    ),
    DomainSpec(
        "Kitchen",
        "KI",
        (
            _PT(
                "Chef's Knife",
                "Cutlery",
                "Cutlery Accessories",
                ("8-Inch", "6-Inch", "10-Inch"),
                ("Knife Sharpener", "Blade Guard", "Honing Rod, 10-Inch", "Magnetic Knife Strip"),
            ),
            _PT(
                "Espresso Machine",
                "Coffee",
                "Coffee Accessories",
                ("Stainless Steel", "Black", "Cream"),
                (
                    "Milk Frothing Pitcher, 12 oz",
                    "Descaling Solution, 2-Pack",
                    "Tamper, 51mm",
                    "Water Filter Cartridges, 3-Pack",
                ),
            ),
            _PT(
                "Stand Mixer",
                "Mixers",
                "Mixer Accessories",
                ("5-Quart, Empire Red", "6-Quart, Silver", "4.5-Quart, Matte Black"),
                ("Dough Hook", "Pouring Shield", "Flex Edge Beater", "Pasta Roller Attachment"),
            ),
            _PT(
                "High-Speed Blender",
                "Blenders",
                "Blender Accessories",
                ("64 oz, Black", "48 oz, Slate", "64 oz, Red"),
                ("Replacement Jar", "Travel Cups with Lids, 2-Pack", "Tamper Tool", "Blade Assembly"),
            ),
            _PT(
                "Cast Iron Skillet",
                "Cookware",
                "Cookware Accessories",
                ("10-Inch", "12-Inch", "8-Inch"),
                ("Silicone Handle Cover", "Seasoning Oil, 8 oz", "Tempered Glass Lid", "Chain Mail Scrubber"),
            ),
            _PT(
                "Air Fryer",
                "Small Appliances",
                "Small Appliance Accessories",
                ("5.8-Quart, Black", "3.7-Quart, White", "8-Quart, Dual Basket"),
                (
                    "Parchment Liners, 100-Count",
                    "Baking Pan",
                    "Silicone Pot",
                    "Skewer Rack Set",
                ),
            ),
        ),
    ),
    DomainSpec(
        "Home_Office",
        "HO",
        (
            _PT(
                "Ergonomic Office Chair",
                "Office Chairs",
                "Chair Accessories",
                ("Mesh, Black", "Fabric, Grey", "Mesh, White"),
                (
                    "Seat Cushion",
                    "Replacement Casters, 5-Pack",
                    "Headrest Attachment",
                    "Lumbar Support Pillow",
                ),
            ),
            _PT(
                "Electric Standing Desk",
                "Desks",
                "Desk Accessories",
                ("48 x 30 Inch, Walnut", "55 x 28 Inch, White", "60 x 30 Inch, Black"),
                ("Cable Management Tray", "Anti-Fatigue Mat", "Clamp-On Power Strip", "Under-Desk Drawer"),
            ),
            _PT(
                "Dual Monitor Arm",
                "Monitor Mounts",
                "Monitor Mount Accessories",
                ("Black", "Silver", "White"),
                ("VESA Adapter Plate", "Laptop Tray", "Grommet Mount Kit", "Cable Covers, 4-Pack"),
            ),
            _PT(
                "LED Desk Lamp",
                "Lighting",
                "Lighting Accessories",
                ("Black", "White", "Brushed Brass"),
                ("Replacement LED Panel", "Desk Clamp Mount", "USB-C Power Adapter", "Diffuser Shade"),
            ),
            _PT(
                "Mechanical Keyboard",
                "Keyboards",
                "Keyboard Accessories",
                ("Brown Switches", "Red Switches", "Blue Switches, Tenkeyless"),
                ("Wrist Rest", "PBT Keycap Set", "Coiled USB-C Cable", "Keycap Puller &amp; Switch Tool"),
            ),
            _PT(
                "Wireless Mouse",
                "Mice",
                "Mouse Accessories",
                ("Graphite", "Pale Grey", "Rose"),
                ("Mouse Pad, Extended", "USB Receiver", "Replacement Skates, 2-Pack", "Travel Pouch"),
            ),
            _PT(
                "Cross-Cut Paper Shredder",
                "Shredders",
                "Shredder Accessories",
                ("12-Sheet", "8-Sheet", "16-Sheet, Auto Feed"),
                (
                    "Shredder Oil, 12 oz",
                    "Shredder Bags, 100-Count",
                    "Sharpening Sheets, 12-Pack",
                    "Caster Set",
                ),
            ),
        ),
    ),
)

#: Names of the built-in domains, in their fixed order.
DOMAINS: tuple[str, ...] = tuple(spec.name for spec in DOMAIN_SPECS)
#: The built-in domains by name.
SPECS = {spec.name: spec for spec in DOMAIN_SPECS}

#: Invented brands (one word each, so a title's first two words name its series) and their tiers.
BRANDS: tuple[tuple[str, str], ...] = (
    ("Brisa", "budget"),
    ("Corvane", "budget"),
    ("Tavira", "budget"),
    ("Quorra", "budget"),
    ("Pellion", "budget"),
    ("Kestrel", "mid"),
    ("Northvale", "mid"),
    ("Halden", "mid"),
    ("Lumio", "mid"),
    ("Marlow", "mid"),
    ("Oakhurst", "mid"),
    ("Aurelio", "premium"),
    ("Solvane", "premium"),
    ("Veltra", "premium"),
    ("Wrenfield", "premium"),
    ("Ysolde", "premium"),
)

SERIES_WORDS = (
    "Summit", "Apex", "Vista", "Nova", "Pulse", "Orbit", "Drift", "Crest", "Echo", "Flux", "Atlas",
    "Terra", "Aero", "Halo", "Prism", "Strata", "Vector", "Vantage", "Luma", "Forge", "Ember", "Glide",
    "Ridge", "Sierra", "Tempo", "Arc", "Onyx", "Cirrus", "Nimbus", "Zephyr", "Fjord", "Alto", "Canyon",
    "Comet", "Delta", "Element", "Harbor", "Horizon", "Juniper", "Meridian", "Monarch", "Pinnacle",
    "Quest", "Radius", "Sequoia", "Solstice", "Tundra", "Voyager",
)  # fmt: skip

MODEL_STYLES = ("{n}", "S{n}", "{n}00", "X{n}", "Mk{n}")
