"""The legacy shared database's schema, as docs/LEGACY.md describes it. The same DDL runs on PostgreSQL and
SQLite. Nothing is enforced that the legacy system did not enforce: no foreign keys, no checks."""

TABLES = ("restaurants", "users", "categories", "products", "product_variants", "product_renames", "orders",
          "order_lines", "payments", "refunds")

DDL = [
    """CREATE TABLE restaurants (
        id INTEGER PRIMARY KEY,
        slug VARCHAR(60) NOT NULL,
        name VARCHAR(200) NOT NULL,
        currency VARCHAR(3) NOT NULL,
        timezone VARCHAR(64) NOT NULL,
        languages VARCHAR(20) NOT NULL
    )""",
    """CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        restaurant_id INTEGER NOT NULL,
        username VARCHAR(150) NOT NULL,
        email VARCHAR(254),
        full_name VARCHAR(200),
        role VARCHAR(20) NOT NULL,
        password_hash VARCHAR(200),
        created_at VARCHAR(40) NOT NULL
    )""",
    """CREATE TABLE categories (
        id INTEGER PRIMARY KEY,
        restaurant_id INTEGER NOT NULL,
        name_en VARCHAR(200) NOT NULL,
        name_my VARCHAR(200),
        position INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE products (
        id INTEGER PRIMARY KEY,
        restaurant_id INTEGER NOT NULL,
        category_id INTEGER,
        name_en VARCHAR(200) NOT NULL,
        name_my VARCHAR(200),
        current_price DECIMAL(14, 2) NOT NULL,
        stock_count INTEGER,
        is_active BOOLEAN NOT NULL DEFAULT TRUE
    )""",
    """CREATE TABLE product_variants (
        id INTEGER PRIMARY KEY,
        product_id INTEGER NOT NULL,
        name_en VARCHAR(200) NOT NULL,
        name_my VARCHAR(200),
        price DECIMAL(14, 2),
        stock_count INTEGER
    )""",
    """CREATE TABLE product_renames (
        id INTEGER PRIMARY KEY,
        product_id INTEGER NOT NULL,
        old_name_en VARCHAR(200) NOT NULL,
        old_name_my VARCHAR(200),
        renamed_at VARCHAR(40) NOT NULL
    )""",
    """CREATE TABLE orders (
        id INTEGER PRIMARY KEY,
        restaurant_id INTEGER NOT NULL,
        user_id INTEGER,
        table_no VARCHAR(20),
        status VARCHAR(20) NOT NULL,
        total DECIMAL(14, 2) NOT NULL,
        currency VARCHAR(3) NOT NULL,
        created_at VARCHAR(40) NOT NULL
    )""",
    """CREATE TABLE order_lines (
        id INTEGER PRIMARY KEY,
        order_id INTEGER NOT NULL,
        product_id INTEGER NOT NULL,
        variant_id INTEGER,
        quantity INTEGER NOT NULL,
        price_at_order_time DECIMAL(14, 2)
    )""",
    """CREATE TABLE payments (
        id INTEGER PRIMARY KEY,
        order_id INTEGER NOT NULL,
        method VARCHAR(20) NOT NULL,
        amount DECIMAL(14, 2) NOT NULL,
        currency VARCHAR(3) NOT NULL,
        tendered DECIMAL(14, 2),
        paid_at VARCHAR(40) NOT NULL
    )""",
    """CREATE TABLE refunds (
        id INTEGER PRIMARY KEY,
        payment_id INTEGER NOT NULL,
        amount DECIMAL(14, 2) NOT NULL,
        reason VARCHAR(300),
        refunded_at VARCHAR(40) NOT NULL
    )""",
    "CREATE INDEX users_restaurant ON users (restaurant_id)",
    "CREATE INDEX categories_restaurant ON categories (restaurant_id)",
    "CREATE INDEX products_restaurant ON products (restaurant_id)",
    "CREATE INDEX variants_product ON product_variants (product_id)",
    "CREATE INDEX renames_product ON product_renames (product_id)",
    "CREATE INDEX orders_restaurant ON orders (restaurant_id, id)",
    "CREATE INDEX lines_order ON order_lines (order_id)",
    "CREATE INDEX payments_order ON payments (order_id)",
    "CREATE INDEX refunds_payment ON refunds (payment_id)",
]
